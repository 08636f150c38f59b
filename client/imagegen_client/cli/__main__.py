"""`python -m imagegen_client.cli`: the `imagegen` console script without the script."""

from imagegen_client.cli.app import main

main()
