from memos.cli.app import main

main()
