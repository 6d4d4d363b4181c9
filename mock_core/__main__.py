import sys

from mock_core.cli import main

sys.exit(main())
