"""Executes notebooks top to bottom with nbclient and the kubernel kernel, headless.

Writes each executed copy to notebooks/executed/ and fails (exit 1) on any error output, except
in cells tagged "raises-exception", which are meant to show an error.
"""
import argparse
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def errors_in(nb):
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds one cell may take")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "executed")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, kernel_name="kubernel", timeout=args.timeout,
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.monotonic()
        problems = []
        try:
            client.execute()
        except CellExecutionError as err:
            problems.append(str(err).strip().splitlines()[-1])
        problems += errors_in(nb)
        target = args.out / path.name
        nbformat.write(nb, target)
        took = time.monotonic() - start
        if problems:
            failed += 1
            print(f"FAILED {path.name} ({took:.1f} s), executed copy in {target}:")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"ok     {path.name} ({took:.1f} s), executed copy in {target}")
    print(f"notebooks: {len(args.notebooks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
