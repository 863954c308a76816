#!/usr/bin/env python
"""Where students differ from the expert, side by side (teachable.student_errors): on the same
fresh noisy-expert states, each student's agreement with the expert and optimal-action rate,
overall and by the expert's subgoal (target in view / not in view / explore). Prints a markdown
table; --out also writes it as JSON. Runs by hand, e.g.

    python scripts/student_errors.py --config config/config.yaml --students results/student/base"""

from functools import partial

from teachable import scripting
from teachable.envs import env_from_config
from teachable.io import write_json
from teachable.policy import Policy
from teachable.prompts import check_student_layout, layout_of
from teachable.student_errors import CATEGORIES, error_breakdown, error_states


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--students", nargs="+", required=True, help="student model directories")
    p.add_argument("--tasks", type=int, default=150, help="noisy-expert episodes (fresh tasks)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="also write the numbers here (JSON)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    st = cfg["student"]
    for s in args.students:
        check_student_layout(s, st)
    rows = error_states(partial(env_from_config, cfg["env"], expert=True), args.tasks, cfg["seed"], st["history"],
                        cfg["bootstrap"]["demo_noise"], cfg["env"]["max_steps"])
    out = {s: error_breakdown(Policy.load(s, None, args.device, st["batch_size"], st["prompt_format"], st["dtype"]),
                              rows, layout_of(st)) for s in args.students}
    print(f"{len(rows)} states of {args.tasks} noisy-expert episodes (noise {cfg['bootstrap']['demo_noise']}); "
          "per student: agreement with the expert / optimal-action rate\n")
    print("| states | share | expert optimal | " + " | ".join(args.students) + " |")
    print("|---|---|---|" + "---|" * len(args.students))
    first = out[args.students[0]]
    for k in ("overall", *CATEGORIES):
        if k in first:
            print(f"| {k} | {first[k]['share']:.3f} | {first[k]['expert_optimal']:.3f} | "
                  + " | ".join(f"{out[s][k]['agreement']:.3f} / {out[s][k]['optimal']:.3f}" for s in args.students)
                  + " |")
    if args.out:
        write_json(args.out, {"n_states": len(rows), "tasks": args.tasks, "seed": cfg["seed"], "students": out})


if __name__ == "__main__":
    scripting.run(main)
