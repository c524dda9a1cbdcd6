"""`python -m dsplan`."""

from dsplan.cli import main

main()
