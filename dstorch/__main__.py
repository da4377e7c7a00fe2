from dstorch.cli import main

raise SystemExit(main())
