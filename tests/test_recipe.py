"""The phase-2 recipe (docs/training.md): comparable budgets, the best-probe checkpoint,
the forgetting guards (KL to BASE, replay of the student's own solved behaviour), and
the fresh, disjoint evaluation sets of validation."""

import pytest
import torch

from teachable.evaluation import FRESH_TASK_STAGE, eval_tasks, panel
from teachable.io import InputError, write_jsonl
from teachable.policy import load_model_and_tokenizer
from teachable.student import collate
from teachable.training import run_data, train_adapter
from teachable.training.lora import attach_lora, encode, kl_to_base
from teachable.training.replay import base_greedy_records, read_replay, replay_for_run, snapshot_records
from teachable.training.sft import check_train_cfg, plan_steps
from teachable.vocab import QUADRANTS

from conftest import MOCK_CONFIG, ROOT
from training_fixtures import labeled_snapshots

LORA = {"lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"}
QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def cfg():
    from teachable.config import load_config

    return load_config(MOCK_CONFIG)


@pytest.fixture(scope="module")
def snaps(cfg, mock_student):
    return labeled_snapshots(cfg, mock_student, n_rollouts=2, horizon=8)


def test_budget_steps_is_independent_of_data_size_and_epochs_is_not():
    steps = {**LORA, "batch_size": 8, "lr": 0.01, "budget": "steps", "budget_value": 30}
    assert plan_steps(steps, 20)["steps"] == plan_steps(steps, 200)["steps"] == 30
    ex = {**steps, "budget": "examples", "budget_value": 120, "replay_share": 0.25}
    p = plan_steps(ex, 20)
    assert (p["run_examples_per_step"], p["replay_per_step"], p["steps"]) == (6, 2, 20)
    assert p["run_examples_seen"] >= 120 and plan_steps(ex, 200)["steps"] == 20
    ep = {**steps, "budget": "epochs", "epochs": 3}
    assert plan_steps(ep, 20)["steps"] == 9 and plan_steps(ep, 200)["steps"] == 75  # the old, unequal budget
    with pytest.raises(InputError, match="training.budget"):
        check_train_cfg({**steps, "budget": "hours"})
    with pytest.raises(InputError, match="budget_value"):
        check_train_cfg({k: v for k, v in steps.items() if k != "budget_value"})


def test_kl_to_base_is_zero_for_a_fresh_adapter_and_positive_after_training(snaps, mock_student, tmp_path):
    model, tok = load_model_and_tokenizer(mock_student, None, "cpu")
    model = attach_lora(model, LORA, 0)
    ex = run_data("B2_all", snaps, 0).examples[:6]
    ids, lab, mask = collate(encode(tok, ex), tok.pad_token_id)
    with torch.no_grad():
        kl0 = kl_to_base(model, model(input_ids=ids, attention_mask=mask).logits, ids, mask, lab)
    assert abs(float(kl0)) < 1e-6
    # targets that disagree with BASE pull the adapter away from it; the KL guard holds it closer
    from dataclasses import replace

    other = [replace(e, action=next(a for a in e.valid_actions if a != e.action)) for e in ex]
    cfgs = {w: {**LORA, "batch_size": 3, "lr": 0.01, "budget": "steps", "budget_value": 12, "kl_weight": w}
            for w in (0.0, 5.0)}
    kls = {}
    for w, c in cfgs.items():
        r = train_adapter(mock_student, other, c, 3, tmp_path / f"kl{w}", "cpu", **QUIET)
        assert r["steps"] == 12
        from peft import PeftModel

        m = PeftModel.from_pretrained(load_model_and_tokenizer(mock_student, None, "cpu")[0], tmp_path / f"kl{w}")
        with torch.no_grad():
            kls[w] = float(kl_to_base(m, m(input_ids=ids, attention_mask=mask).logits, ids, mask, lab))
    # measured on the mock student: 0.0045 without the guard, 0.0031 with kl_weight 5
    assert kls[0.0] > 1e-3 and kls[5.0] < 0.9 * kls[0.0], kls
    rows = r["metrics_rows"]
    assert all("kl" in x for x in rows if "loss" in x)


def test_kl_scope_replay_guards_the_replay_rows_only(snaps, mock_student, tmp_path):
    """kl_scope replay: the KL of a step is the replay rows' (the rows after the run's in a
    batch), so a run whose replay items are its own examples gets the KL of those rows."""
    from teachable.training.lora import sft_step

    model, tok = load_model_and_tokenizer(mock_student, None, "cpu")
    model = attach_lora(model, LORA, 0)
    ex = run_data("B2_all", snaps, 0).examples[:6]
    enc = encode(tok, ex)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    sft_step(model, opt, enc, tok.pad_token_id, "cpu", kl_weight=1.0)  # move off BASE
    ids, lab, mask = collate(enc, tok.pad_token_id)
    with torch.no_grad():
        want = float(kl_to_base(model, model(input_ids=ids[3:], attention_mask=mask[3:]).logits,
                                ids[3:], mask[3:], lab[3:]))
        every = float(kl_to_base(model, model(input_ids=ids, attention_mask=mask).logits, ids, mask, lab))
    st = {}
    sft_step(model, torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0), enc,
             tok.pad_token_id, "cpu", kl_weight=1.0, stats=st, kl_rows=slice(3, None))
    assert want > 1e-6 and st["kl"] == pytest.approx(want, rel=1e-4) and st["kl"] != pytest.approx(every, rel=1e-3)
    c = {**LORA, "batch_size": 4, "lr": 0.01, "budget": "steps", "budget_value": 2, "kl_weight": 5.0}
    with pytest.raises(InputError, match="training.kl_scope: replay needs replay items"):
        check_train_cfg({**c, "kl_scope": "replay"})
    with pytest.raises(InputError, match="training.kl_scope: 'rows'"):
        check_train_cfg({**c, "kl_scope": "rows"})
    r = train_adapter(mock_student, ex, {**c, "kl_scope": "replay", "replay_share": 0.5}, 0, tmp_path / "a", "cpu",
                      replay=ex[:2], **QUIET)
    assert all(x["kl"] >= 0 for x in r["metrics_rows"] if "loss" in x)


def test_best_probe_checkpoint_is_kept_and_never_step_zero(snaps, mock_student, tmp_path):
    ex = run_data("B2_all", snaps, 0).examples
    calls = []

    def probe(policy, step=None):  # a probe whose best value is at the second probed step (step 4)
        calls.append(1)
        return {"probe_success": [0.9, 0.2, 0.5, 0.1][len(calls) - 1]}

    c = {**LORA, "batch_size": 4, "lr": 0.01, "budget": "steps", "budget_value": 6, "probe_every": 2,
         "checkpoint": "best_probe"}
    r = train_adapter(mock_student, ex, c, 0, tmp_path / "best", "cpu", probe=probe, **QUIET)
    # probes at steps 0 (BASE: 0.9, not a candidate), 2, 4, 6 -> best candidate is step 4
    assert [x["step"] for x in r["metrics_rows"] if "loss" not in x] == [0, 2, 4, 6]
    assert r["checkpoint"]["rule"] == "best_probe" and r["checkpoint"]["step"] == 4
    calls.clear()
    last = train_adapter(mock_student, ex, {**c, "checkpoint": "last"}, 0, tmp_path / "last", "cpu", probe=probe,
                         **QUIET)
    assert last["checkpoint"] == {"rule": "last", "step": 6}
    from safetensors.torch import load_file

    a, b = (load_file(tmp_path / d / "adapter_model.safetensors") for d in ("best", "last"))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the saved adapter is the step-4 one, not the last


def test_step_zero_probe_is_bases_measured_once(cfg, snaps, mock_student, tmp_path):
    """Step 0's adapter is BASE (B = 0), so every run's step-0 probe success is BASE's:
    rule replay_set measures it once (base_probe_success) and the runs take it; the value
    is exactly what a run measures itself, and the later probes are unchanged."""
    from teachable.training.sft import base_probe_success, env_probe

    ex = run_data("B2_all", snaps, 0).examples
    c = {**LORA, "batch_size": 4, "lr": 0.01, "budget": "steps", "budget_value": 2, "probe_every": 2}
    own = train_adapter(mock_student, ex, c, 0, tmp_path / "own", "cpu", probe=env_probe(cfg, ex), **QUIET)
    base = base_probe_success(cfg, mock_student)
    probes = [x for x in own["metrics_rows"] if "loss" not in x]
    assert probes[0]["step"] == 0 and probes[0]["probe_success"] == base
    given = train_adapter(mock_student, ex, c, 0, tmp_path / "given", "cpu", probe=env_probe(cfg, ex, 0.125), **QUIET)
    probes_given = [x for x in given["metrics_rows"] if "loss" not in x]
    assert probes_given[0]["probe_success"] == 0.125  # taken, not measured
    assert probes_given[1:] == probes[1:] and "probe_train_acc" in probes_given[0]


def test_replay_is_the_students_own_solved_behaviour_from_train_snapshots(snaps, mock_student, tmp_path):
    rows, info = snapshot_records(snaps, 2, 0.5)
    by_id = {s["snapshot_id"]: s for s in snaps}
    assert rows and info["n_examples"] == len(rows), "fixture needs snapshots the student solves"
    for r in rows:
        s = by_id[r["example_id"]]
        assert not s["heldout"] and s["p_policy"] >= 0.5 and r["action"] == s["student_greedy_action"]
    assert snapshot_records(snaps, 2, 1.01)[0] == []
    write_jsonl(tmp_path / "replay.jsonl", rows)
    rep = read_replay(tmp_path / "replay.jsonl")
    c = {**LORA, "batch_size": 4, "lr": 0.01, "budget": "examples", "budget_value": 9, "replay_share": 0.25}
    ex = run_data("B2_all", snaps, 0).examples
    r = train_adapter(mock_student, ex, c, 0, tmp_path / "rep", "cpu", replay=rep, **QUIET)
    assert r["budget"]["replay_per_step"] == 1 and r["steps"] == 3 and r["n_replay"] == len(rep)


def test_base_greedy_replay_holds_bases_own_greedy_decisions_on_tasks_of_its_own(cfg, mock_student):
    from functools import partial

    from teachable.envs import env_from_config
    from teachable.io import derive_seed
    from teachable.policy import Policy

    policy = Policy.load(mock_student, None, "cpu", 64)
    make_env = partial(env_from_config, cfg["env"], expert=False)
    rows, info = base_greedy_records(policy, make_env, 16, cfg["seed"], cfg["env"]["max_steps"], 2)
    assert info["n_tasks"] == 16 and 0 < info["n_solved"] <= 16 and info["n_examples"] == len(rows)
    # every target is BASE's argmax under the very prompt the engine showed it
    scores = policy.score([r["prompt"] for r in rows], [r["valid_actions"] for r in rows])
    assert [r["valid_actions"][int(s.argmax())] for r, s in zip(rows, scores)] == [r["action"] for r in rows]
    # only solved episodes, replayed from the start: each episode's steps are 0..n-1
    by_task = {}
    for r in rows:
        by_task.setdefault(r["task_seed"], []).append(int(r["example_id"].rsplit("_t", 1)[1]))
    assert len(by_task) == info["n_solved"] and all(t == list(range(len(t))) for t in by_task.values())
    # tasks of their own: not phase 0's, the probe's or phase 3's
    others = {derive_seed(cfg["seed"], st, i) for st in ("phase0_tasks", "probe_tasks") for i in range(64)}
    assert not set(by_task) & (others | set(eval_tasks({**cfg, "eval": {"n_tasks": 64}})))
    assert base_greedy_records(policy, make_env, 16, cfg["seed"], cfg["env"]["max_steps"], 2)[0] == rows


def test_replay_set_errors_name_the_file_and_line(tmp_path):
    assert replay_for_run({"replay_share": 0.0}, None) == []
    with pytest.raises(InputError, match="needs the replay set"):
        replay_for_run({"replay_share": 0.5}, None)
    bad = tmp_path / "replay.jsonl"
    bad.write_text('{"example_id": "a", "source": "base_greedy", "prompt": "p", "action": "x"}\n')
    with pytest.raises(InputError, match=r"replay.jsonl:1: missing key\(s\) valid_actions"):
        read_replay(bad)
    bad.write_text('{"example_id": "a", "source": "s", "prompt": "p", "action": "x", "valid_actions": ["y"]}\n')
    with pytest.raises(InputError, match="'x' is not a valid action"):
        read_replay(bad)


def test_validation_tasks_and_panel_are_disjoint_from_phase3(cfg, snaps):
    big = {**cfg, "eval": {**cfg["eval"], "n_tasks": 200}}
    assert not set(eval_tasks(big)) & set(eval_tasks(big, FRESH_TASK_STAGE))
    assert len(set(eval_tasks(big, FRESH_TASK_STAGE))) == 200
    p0 = {s["snapshot_id"] for s in panel(snaps, 1, 0)}
    p1 = {s["snapshot_id"] for s in panel(snaps, 1, 0, part=1)}
    assert p0 and p1 and not p0 & p1
    held = [s for s in snaps if s["heldout"]]
    assert p0 | p1 <= {s["snapshot_id"] for s in held}
    # part 1 continues part 0's ranking: together they are the first 2 per quadrant
    assert p0 | p1 == {s["snapshot_id"] for s in panel(snaps, 2, 0)}
    assert len(p1) == sum(min(max(sum(s["quadrant"] == q for s in held) - 1, 0), 1) for q in QUADRANTS)


def test_expert_control_is_fresh_expert_behaviour_in_the_students_prompt(cfg):
    from teachable.envs import env_from_config
    from teachable.io import derive_seed
    from teachable.prompts import build_prompt, layout_of
    from teachable.training.controls import expert_examples

    exs = expert_examples(cfg, 3)
    assert exs and exs == expert_examples(cfg, 3), "deterministic for a config"
    assert len({e.snapshot_id for e in exs}) == len(exs)
    assert all(e.fmt == "demo" and e.action in e.valid_actions for e in exs)
    assert expert_examples(cfg, 4)[:len(exs)] == exs, "more tasks keep the first ones"
    # noise 0: the expert's own path; every target is its action in the state the prompt shows
    task = derive_seed(derive_seed(cfg["seed"], "expert_control"), "bootstrap_task", 0)
    assert task not in set(eval_tasks(cfg)), "not an evaluation task"
    env = env_from_config(cfg["env"], expert=True)
    obs, hist, h = env.reset(task), [], cfg["student"]["history"]
    for e in expert_examples(cfg, 1, noise=0.0):
        assert e.prompt == build_prompt(obs.mission, obs.text, hist[-h:], "", layout_of(cfg["student"]))
        assert e.action == env.expert_action()
        obs, _, done, _ = env.step(e.action)
        hist.append(e.action)
    assert done, "the expert's path ends in success"
    with pytest.raises(InputError, match="n_tasks"):
        expert_examples(cfg, 0)


def test_dagger_control_labels_the_students_own_states_with_the_expert(cfg, mock_student):
    import copy

    import numpy as np

    from teachable.policy import Policy
    from teachable.training.controls import dagger_examples

    policy = Policy.load(mock_student, None, "cpu", 64)
    exs = dagger_examples(cfg, policy, 4)
    assert exs and exs == dagger_examples(cfg, policy, 4), "deterministic for a config and student"
    assert dagger_examples(cfg, policy, 5)[:len(exs)] == exs, "more tasks keep the first ones"
    assert len({e.snapshot_id for e in exs}) == len(exs) and all(e.fmt == "demo" for e in exs)
    # the corridor's expert goes forward when the goal is ahead and turns around when it is behind
    for e in exs:
        obs_line = next(line for line in e.prompt.splitlines() if line.startswith("observation:"))
        assert e.action == ("turn around" if "behind" in obs_line else "go forward"), e.prompt
    # the student acts: greedy (temperature 0), each next state follows the student's own pick
    greedy = copy.deepcopy(cfg)
    greedy["student"]["temperature"] = 0.0
    exs = dagger_examples(greedy, policy, 3)
    pairs = [(e, nxt) for e, nxt in zip(exs, exs[1:]) if nxt.snapshot_id.split("_")[0] == e.snapshot_id.split("_")[0]]
    assert pairs
    for e, nxt in pairs:
        pick = e.valid_actions[int(np.argmax(policy.score([e.prompt], [list(e.valid_actions)])[0]))]
        assert nxt.prompt.split("history: ")[1].split("\n")[0].split(" , ")[-1] == pick
    with pytest.raises(InputError, match="n_tasks"):
        dagger_examples(cfg, policy, 0)
    # the corridor's expert always takes a shortest plan: shortest-plan labels are the same
    assert dagger_examples(cfg, policy, 4, "shortest") == dagger_examples(cfg, policy, 4)
    with pytest.raises(InputError, match="labels 'best'"):
        dagger_examples(cfg, policy, 1, "best")


def test_shortest_action_leaves_the_shortest_plan_and_the_env_as_it_was():
    from teachable.config import load_config
    from teachable.envs import env_from_config
    from teachable.training.controls import shortest_action

    env = env_from_config(load_config(ROOT / "config" / "config.yaml")["env"], expert=False)
    seen_detour = False
    for task in range(6):
        obs = env.reset(task)
        for a in ("turn left", "turn left", "go forward"):  # off the expert's path
            obs, *_ = env.step(a)
        state, valid = env.get_state(), list(obs.valid_actions)
        togo = {}
        for a in valid:
            env.set_state(state)
            env.step(a)
            togo[a] = env.steps_to_go()
        env.set_state(state)
        for expert in valid:  # whatever the expert said, the answer is on a shortest plan
            pick = shortest_action(env, valid, expert)
            assert togo[pick] == min(togo.values()) and env.get_state() == state
            assert pick == expert or togo[expert] > togo[pick]
            seen_detour |= pick != expert
    assert seen_detour


def test_replay_set_is_off_at_share_zero_unless_the_null_control_asks(cfg, mock_student, snaps):
    from teachable.training.replay import build_replay

    tr = {**cfg["training"], "replay_tasks": 8}
    on = build_replay({**cfg, "training": {**tr, "replay_share": 0.5}}, mock_student, lambda: snaps)[0]
    off = {**cfg, "training": {**tr, "replay_share": 0.0}}
    assert on and build_replay(off, mock_student, lambda: snaps)[0] == []
    assert build_replay(off, mock_student, lambda: snaps, even_if_off=True)[0] == on


# --- the forgetting guard must not forbid the correction it trains (issue 29, docs/training.md)

TOY_ACTIONS = ("turn around", "go forward", "wait")


def _toy_examples():
    """The toy's training states (the goal ahead, four histories: 20 rows labelled 'go
    forward') and its replay states (BASE's own right actions elsewhere)."""
    from teachable.prompts import build_prompt
    from teachable.training.formats import SFTExample

    hists = ([], ["go forward"], ["wait"], ["go forward", "go forward"])
    train = [SFTExample(f"t{d}_{h}", "demo", build_prompt("go to the goal", f"the goal is {d} steps ahead", hist),
                        "go forward", TOY_ACTIONS) for d in range(1, 6) for h, hist in enumerate(hists)]
    replay = [SFTExample(f"r{d}", "demo", build_prompt("go to the goal", f"the goal is {d} steps behind", []),
                         "turn around", TOY_ACTIONS) for d in range(1, 7)]
    replay += [SFTExample(f"q{d}", "demo", build_prompt("go to the goal", f"the goal is {d} steps ahead", ["turn around"]),
                          "go forward", TOY_ACTIONS) for d in range(5, 9)]
    return train, replay


def _action_probs(model_path, adapter, examples):
    """Each row's distribution over its valid actions (softmax of the summed log-probs)."""
    import numpy as np

    from teachable.policy import Policy

    s = Policy.load(model_path, adapter, "cpu", 64).score([e.prompt for e in examples],
                                                         [list(e.valid_actions) for e in examples])
    return np.array([np.exp(x - x.max()) / np.exp(x - x.max()).sum() for x in s])


@pytest.fixture(scope="module")
def toy_base(mock_student, tmp_path_factory):
    """A tiny BASE that puts ~0.9 on a wrong action ('wait') at the toy's training states
    and acts right on its replay states: the mock student, every weight fine-tuned until the
    mean probability of 'wait' there reaches 0.9."""
    from dataclasses import replace

    import numpy as np

    from teachable.policy import Policy

    train, replay = _toy_examples()
    model, tok = load_model_and_tokenizer(mock_student, None, "cpu")
    ids, lab, mask = collate(encode(tok, [replace(e, action="wait") for e in train] + replay), tok.pad_token_id)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(300):
        model.train()
        loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        s = Policy(model, tok, 64).score([e.prompt for e in train], [list(TOY_ACTIONS)] * len(train))
        if np.mean([np.exp(x[2]) / np.exp(x).sum() for x in s]) >= 0.9:
            break
    out = tmp_path_factory.mktemp("toy") / "base"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def test_shipped_recipe_makes_the_label_greedy_where_base_is_confidently_wrong(toy_base, tmp_path):
    """The shipped guard (kl_scope replay, budget epochs: the schema's training defaults)
    turns BASE's 0.9 on a wrong action into the labelled action's greedy win on every
    training state, and keeps BASE's actions on the replay states. The old guard (KL to
    BASE on every row, weight 5) can not: per row its optimum puts (5 b + 1) / 6 on the
    label, about 0.2 here (measured: 0.18-0.21 over the valid actions), however long it
    trains."""
    from teachable.config import validate_config

    train, replay = _toy_examples()
    base = _action_probs(toy_base, None, train)
    assert base[:, 2].min() > 0.85 and base[:, 1].max() < 0.1, base  # BASE: ~0.9 on 'wait', little on the label
    tr = {**validate_config({})["training"], "probe_every": 0}
    assert (tr["budget"], tr["kl_scope"], tr["kl_weight"]) == ("epochs", "replay", 5.0)
    r = train_adapter(toy_base, train, tr, 0, tmp_path / "new", "cpu", replay=replay, **QUIET)
    assert r["budget"]["epochs_over_run_examples"] == tr["epochs"]
    new = _action_probs(toy_base, str(tmp_path / "new"), train)
    assert (new.argmax(1) == 1).all(), new  # measured: 0.60-0.71 on 'go forward'
    assert (_action_probs(toy_base, str(tmp_path / "new"), replay).argmax(1)
            == [TOY_ACTIONS.index(e.action) for e in replay]).all()
    # the old guard, with twice the passes: still capped near (5 b + 1) / 6
    old_cfg = {**tr, "kl_scope": "batch", "epochs": 2 * tr["epochs"]}
    train_adapter(toy_base, train, old_cfg, 0, tmp_path / "old", "cpu", replay=replay, **QUIET)
    old = _action_probs(toy_base, str(tmp_path / "old"), train)
    cap = (5 * base[:, 1] + 1) / 6
    assert (old.argmax(1) == 2).all() and (old[:, 1] < cap + 0.1).all(), (old, cap)


def test_max_probes_spaces_out_the_probes_of_long_runs():
    from teachable.training.sft import probe_interval

    # the pilot's phase-2 runs (35 steps) keep probe_every 10; a control run of 510 steps
    # probes every 64 steps (8 probes, not 51); 0 = no cap
    assert probe_interval({"probe_every": 10, "max_probes": 8}, 35) == 10
    assert probe_interval({"probe_every": 10, "max_probes": 8}, 510) == 64
    assert probe_interval({"probe_every": 10, "max_probes": 0}, 510) == 10
    assert probe_interval({"probe_every": 0, "max_probes": 8}, 510) == 510
    probes = [s for s in range(1, 511) if s % 64 == 0 or s == 510]
    assert len(probes) == 8
