import sys

from codesign.cli.main import main

sys.exit(main())
