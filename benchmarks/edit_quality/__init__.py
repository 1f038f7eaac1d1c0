"""Edit-quality benchmark (issue 5): the paper's tables (docs/method.md §6-7), measured on SSv2-Split-Synth.

    python -m benchmarks.edit_quality            # both models, every method, seeds 0,1,2

Modules: data (clips, cached backbone features, the original head), methods (what each row computes,
through the compiler's own edit_rows + splice), metrics (docs/method.md §6), full_model (the whole-model
fine-tuning baseline), kinds (target -> kind of split), run / bench (the loops), report (md/json/png).
"""
