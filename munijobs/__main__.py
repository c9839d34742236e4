from munijobs.cli import main

main()
