#!/usr/bin/env python
"""Where students differ from the expert, side by side (teachable.student_errors): on the same
fresh states, each student's agreement with the expert and optimal-action rate, and the
expert's own optimal-action rate, overall and by the expert's subgoal (target in view / not in
view / explore). --states expert: the noisy expert's rollouts (the warm-start's data);
--states student: the first student's own rollouts at student.temperature (phase 0's, where a
teacher labels). Prints a markdown table; --out also writes it as JSON. Runs by hand, e.g.

    python scripts/student_errors.py --config config/config.yaml --students results/student/base"""

from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.io import write_json
from teachable.policy import Policy
from teachable.prompts import check_student_layout, layout_of
from teachable.student_errors import CATEGORIES, error_breakdown, error_states


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--students", nargs="+", required=True, help="student model directories")
    p.add_argument("--tasks", type=int, default=150, help="episodes on fresh tasks (the noisy expert's or the first student's, --states)")
    p.add_argument("--states", choices=("expert", "student"), default="expert",
                   help="whose rollouts: the noisy expert's, or the first student's")
    scripting.add(p, "device", default="cpu")
    scripting.add(p, "out", help="also write the numbers here (JSON)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    st = cfg["student"]
    for s in args.students:
        check_student_layout(s, st)
    policies = {s: Policy.load(s, None, args.device, st["batch_size"], st["prompt_format"], st["dtype"])
                for s in args.students}
    driver = policies[args.students[0]] if args.states == "student" else None
    rows = error_states(partial(env_from_config, cfg["env"], expert=True), args.tasks, cfg["seed"], st["history"],
                        cfg["bootstrap"]["demo_noise"], cfg["env"]["max_steps"], driver, st["temperature"],
                        layout_of(st))
    out = {s: error_breakdown(pol, rows, layout_of(st)) for s, pol in policies.items()}
    whose = (f"{args.students[0]}'s episodes (temperature {st['temperature']})" if driver else
             f"noisy-expert episodes (noise {cfg['bootstrap']['demo_noise']})")
    print(f"{len(rows)} states of {args.tasks} {whose}; per student: agreement with the expert / "
          "optimal-action rate\n")
    print("| states | share | expert optimal | " + " | ".join(args.students) + " |")
    print("|---|---|---|" + "---|" * len(args.students))
    first = out[args.students[0]]
    for k in ("overall", *CATEGORIES):
        if k in first:
            print(f"| {k} | {first[k]['share']:.3f} | {first[k]['expert_optimal']:.3f} | "
                  + " | ".join(f"{out[s][k]['agreement']:.3f} / {out[s][k]['optimal']:.3f}" for s in args.students)
                  + " |")
    if args.out:
        write_json(args.out, {"n_states": len(rows), "tasks": args.tasks, "seed": cfg["seed"], "states": args.states,
                              "students": out})


if __name__ == "__main__":
    scripting.run(main)
