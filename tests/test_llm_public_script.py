"""benchmarks/llm_public_script.py: the callback's three lines go into TRL's installed GRPO script
right before its one ``trainer.train(...)``, the rest of the script unchanged, and a script of
another shape gets one sentence. No training."""
import ast
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import llm_public_script as lps  # noqa: E402

TRAIN = "    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)"


def test_the_three_lines_go_before_trainer_train_in_the_installed_script():
    original = lps.trl_script().read_text()
    text = lps.patch(original, log="/tmp/x/collapse.jsonl")
    ast.parse(text)  # still a valid script
    lines = text.splitlines()
    train = lines.index(TRAIN)
    added = lines[train - 5:train]
    assert added[0].startswith("    # --- added by llm_public_script.py") and added[-1] == "    # --- end ---"
    assert added[1] == "    from modecollapse import CollapseCallback; from task import correct, probe_for"
    assert added[2].startswith("    collapse = CollapseCallback(") and "log='/tmp/x/collapse.jsonl'" in added[2]
    assert added[3] == "    collapse.attach(trainer)"
    assert lines.index("    trainer = GRPOTrainer(") < train - 5  # after the trainer is built
    # nothing else of TRL's script changed
    assert lines[:train - 5] + lines[train:] == original.splitlines()


@pytest.mark.parametrize("drop", ["    trainer = GRPOTrainer(", TRAIN])
def test_a_script_of_another_shape_gets_one_sentence(drop):
    original = lps.trl_script().read_text()
    with pytest.raises(SystemExit) as err:
        lps.patch(original.replace(drop, "    pass"), log="x")
    msg = str(err.value)
    assert msg.startswith("error: TRL's GRPO script changed shape") and "\n" not in msg


def test_a_second_train_call_is_refused():
    original = lps.trl_script().read_text()
    with pytest.raises(SystemExit, match="found 1 and 2"):
        lps.patch(original.replace(TRAIN, TRAIN + "\n" + TRAIN), log="x")


def test_the_command_is_the_scripts_own_arguments():
    """Every option the runner passes is one TRL's own parser accepts (no patch hides an argument)."""
    from trl.scripts.grpo import make_parser

    s = lps.SETTINGS["no-kl"]
    argv = lps.command(Path("grpo.py"), s, base=Path("/m"), data=Path("/d"), out=Path("/o"), seed=0)[2:]
    script_args, training_args, model_args, _ = make_parser().parse_args_and_config(argv, fail_with_unknown_args=True)
    assert script_args.reward_funcs == ["rewards.verifier"] and model_args.model_name_or_path == "/m"
    assert training_args.beta == 0.0 and training_args.learning_rate == s.learning_rate
    assert training_args.max_steps == s.steps and training_args.max_completion_length == lps.MAX_LEN
    assert training_args.save_steps == lps.CHECK_EVERY and training_args.use_cpu and not training_args.bf16
