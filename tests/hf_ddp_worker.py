"""One rank of the 2-process CollapseCallback test (tests/test_monitor_hf.py), launched by torchrun:
a plain transformers Trainer fine-tuning the tiny GPT-2 on gloo, with a callback whose settings
make every judged check bad, so it stops at its second judged check. Each rank writes what it saw."""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments  # noqa: E402

from llm_tiny import prompts, tokenizer  # noqa: E402
from modecollapse.monitor.hf import CollapseCallback  # noqa: E402
from modecollapse.monitor.text import TextMonitorSettings  # noqa: E402


def main() -> None:
    model_dir, out = sys.argv[1], Path(sys.argv[2])
    tok = tokenizer()
    texts = [f"{p}{7 * (i % 13 + 2)}" for i, p in enumerate(prompts(4) * 16)]
    enc = tok(texts, padding="max_length", max_length=8)
    data = Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                              "labels": enc["input_ids"]})
    args = TrainingArguments(output_dir=str(out / "trainer"), use_cpu=True, report_to=[], max_steps=12,
                             per_device_train_batch_size=4, logging_steps=1, save_strategy="no", disable_tqdm=True,
                             learning_rate=1e-3, seed=0)
    cb = CollapseCallback(prompts(4), n=4, check_every=2, generation={"max_new_tokens": 3},
                          settings=TextMonitorSettings(answer_below=100.0, patience=2), stop_on=("collapsed",))
    calls = {"n": 0}
    probe = cb.probe

    def counted(*a, **k):
        calls["n"] += 1
        return probe(*a, **k)

    cb.probe = counted
    trainer = Trainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args, train_dataset=data,
                      processing_class=tok, callbacks=[cb])
    trainer.train()
    rank = torch.distributed.get_rank()
    (out / f"rank{rank}.json").write_text(json.dumps({
        "world_size": torch.distributed.get_world_size(), "verdicts": [h["verdict"] for h in cb.monitor.history],
        "stopped_at": trainer.state.global_step, "probes": calls["n"]}))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
