"""``python main.py ...`` from a checkout is ``lookout ...``: the command line lives in
``detector/cli`` (see its docstring) and the installed script in ``ui/launch.py``."""
from lookout_ui.launch import cli, main  # noqa: F401  (tests and tools call main.main(argv))

if __name__ == "__main__":
    cli()
