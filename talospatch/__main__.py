from talospatch.cli import main

main()
