import sys

from posekit.cli import main

if __name__ == "__main__":  # never when a worker process imports the main module
    sys.exit(main())
