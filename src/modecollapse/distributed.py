"""The torchrun entry point of the lab's DDP training, kept at its documented name::

    torchrun --standalone --nproc_per_node 2 -m modecollapse.distributed <train options>

The code is :mod:`modecollapse.cli.distributed` (the options) and
:mod:`modecollapse.lab.distributed` (the strategy).
"""
import sys

from .cli.distributed import main

if __name__ == "__main__":
    sys.exit(main())
