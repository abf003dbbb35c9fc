from memos.cli.app import main

# Guarded: a spawned child process (multiprocessing) imports the parent's main module under
# another name, and must not run the CLI again.
if __name__ == "__main__":
    main()
