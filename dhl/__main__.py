from dhl.cli import main

raise SystemExit(main())
