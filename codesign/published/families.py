"""Model family of a model name: the unit of leave-family-out cross-validation.

A family is an architecture, not a size: ``resnet50d``, ``seresnext101_32x4d`` and
``wide_resnet50_2`` are ResNets; ``convnext_tiny`` and ``convnext_base`` are ConvNeXts;
``convnextv2_tiny`` is a ConvNeXt-V2 (a new version of an architecture is its own family).
Holding out a family then asks the honest question: how well do parameters fitted on the
other architectures predict this one?

Rule (:func:`model_family`), applied to the lower-cased name:

1. drop a pretrained tag (``resnet50.a1_in1k`` -> ``resnet50``) and a hub prefix
   (``timm:``, ``torchvision:``) with its constructor arguments;
2. drop weight-source prefixes (``tf_``, ``gluon_``, ``legacy_``, ``tv_``, ``ig_``, ``ssl_``,
   ``swsl_``, ``fb_``, ``jx_``) and attention-variant modifier tokens (``eca_``, ``gc_``,
   ``se_``, ``sk_``, ``ese_``, ``dm_``), repeatedly;
3. multi-token names from :data:`MULTI_TOKEN` (``inception_next`` vs ``inception_v3``,
   ``mobilenet_v2`` as torchvision writes it, ``wide_resnet``, ``nf_``...);
4. otherwise the stem is the first ``_``-separated token with a trailing size suffix removed
   (a digit run, at most two letters and another digit run: ``resnet50d`` -> ``resnet``,
   ``dla102x2`` -> ``dla``, ``botnet26t`` -> ``botnet``), except a version suffix ``v<digits>`` which stays
   (``mobilenetv3``, ``convnextv2``, ``efficientnetv2``);
5. :data:`ALIASES` merges stems that are one architecture (``seresnext`` -> ``resnet``,
   ``regnety`` -> ``regnet``, ``cs3darknet`` -> ``cspnet``...).

The table is small on purpose; a name it does not know gets its own stem as family, which is
the conservative choice for cross-validation (a held-out family is never smaller than the
architecture).
"""

from __future__ import annotations

import re

SOURCE_PREFIXES = ("tf_", "gluon_", "legacy_", "tv_", "ig_", "ssl_", "swsl_", "fb_", "jx_",
                   "adv_", "ens_", "eca_", "gc_", "se_", "sk_", "ese_", "dm_")

#: names whose family spans more than the first token (checked as prefixes, longest first)
MULTI_TOKEN = {
    "inception_next": "inception_next",
    "inception_v": "inception",
    "inception_resnet": "inception",
    "wide_resnet": "resnet",
    "mobilenet_v2": "mobilenetv2",
    "mobilenet_v3": "mobilenetv3",
    "efficientnet_v2": "efficientnetv2",
    "shufflenet_v2": "shufflenetv2",
    "regnet_": "regnet",
    "swin_v2": "swinv2",
    "tiny_vit": "tiny_vit",
    "nf_": "nfnet",
    "lambda_": "lambda",
    "vit_": "vit",
    "test_": "test",
}

#: stems that are the same architecture
ALIASES = {
    # ResNet and its direct variants (bottleneck/basic blocks with SE/ECA/SK/anti-aliasing...)
    **{k: "resnet" for k in (
        "resnetv2", "seresnet", "seresnext", "resnext", "resnetrs", "resnetblur", "resnetaa",
        "seresnetaa", "ecaresnet", "ecaresnext", "ecaresnetlight", "skresnet", "skresnext",
        "gcresnet", "gcresnext", "senet", "resnetd", "seresnextaa")},
    **{k: "regnet" for k in ("regnetx", "regnety", "regnetz", "regnetv")},
    **{k: "cspnet" for k in ("cspresnet", "cspresnext", "cspdarknet", "cs3darknet",
                             "cs3sedarknet", "cs3edgenet", "cs", "darknet", "darknetaa",
                             "sedarknet")},
    "res2next": "res2net",
    "sebotnet": "botnet", "botnext": "botnet",
    "halonext": "halonet", "sehalonet": "halonet",
    "deit3": "deit",
    "swinv2cr": "swinv2",
    "nfnet": "nfnet", "nfregnet": "nfnet",
    "densenetblur": "densenet",
    "semobilevit": "mobilevit",
    "semnasnet": "mnasnet",
    "fbnetc": "fbnet",
    "maxxvit": "maxvit", "maxxvitv2": "maxvit",
}

_SUFFIX = re.compile(r"(?<!v)\d+[a-z]{0,2}(\d+)?$")


def model_family(name: str) -> str:
    """Architecture family of a model name (see the module docstring for the rule)."""
    n = str(name).strip().lower()
    if ":" in n:
        n = n.split(":", 1)[1]
    n = n.split("?", 1)[0].split(".", 1)[0]
    changed = True
    while changed:
        changed = False
        for p in SOURCE_PREFIXES:
            if n.startswith(p) and len(n) > len(p):
                n, changed = n[len(p):], True
    for prefix in sorted(MULTI_TOKEN, key=len, reverse=True):
        if n.startswith(prefix):
            return MULTI_TOKEN[prefix]
    stem = n.split("_", 1)[0]
    stripped = _SUFFIX.sub("", stem)
    stem = stripped or stem
    return ALIASES.get(stem, stem)


__all__ = ["ALIASES", "MULTI_TOKEN", "SOURCE_PREFIXES", "model_family"]
