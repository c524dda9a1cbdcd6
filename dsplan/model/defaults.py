"""The shape defaults every command, plan and run config shares, in a module of their own.

Kept apart from :mod:`dsplan.model.flops` so that a command's signature can show them without
loading the counting code at start-up (``dsplan schedule`` with an explicit run counts no shape).
"""

# The training sequence length when none is given (DeepSeek's 4096, arXiv 2401.02954 Section 2.3),
# for every command and for run configs. A model's context window (max_position_embeddings) is not
# its training sequence length: Llama 3.1 trains at 8192 and serves 131072.
DEFAULT_SEQ_LEN = 4096
# DeepSeek LLM's vocabulary (arXiv 2401.02954, Section 2.1: a 100,000-token BBPE plus special
# tokens, 102,400 in the released configs), the default of every shape.
DEFAULT_VOCAB_SIZE = 102_400
