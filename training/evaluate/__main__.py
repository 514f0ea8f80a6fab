from .accuracy import main

main()
