import sys

from ggcc.main import main

sys.exit(main())
