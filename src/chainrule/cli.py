"""The ``chainrule`` command: argument parsing and calls into the library, no logic of its own."""
from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    import chainrule as cr
    x, y, z = (cr.tensor(v, requires_grad=True, name=n) for v, n in ((args.x, "x"), (args.y, "y"), (args.z, "z")))
    q = x + y
    f = q * z
    f.backward()
    print(f"f = (x + y) * z at x={args.x:g}, y={args.y:g}, z={args.z:g}")
    print(f"forward:  q = x + y = {q.item():g},  f = q * z = {f.item():g}")
    print(f"backward: df/dq = z = {q.grad.item():g}   (mul swaps)")
    print(f"          df/dz = q = {z.grad.item():g}")
    print(f"          df/dx = df/dq * 1 = {x.grad.item():g}   (add distributes)")
    print(f"          df/dy = df/dq * 1 = {y.grad.item():g}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chainrule", description="Neural networks and backpropagation on NumPy.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="the lecture's (x + y) * z, forward and backward")
    d.add_argument("--x", type=float, default=-2.0, help="value of x (default -2)")
    d.add_argument("--y", type=float, default=5.0, help="value of y (default 5)")
    d.add_argument("--z", type=float, default=-4.0, help="value of z (default -4)")
    d.set_defaults(func=_demo)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
