"""Claude as the pipeline's program writer: the prompt (`prompt`), the template-week ask
(`schemas`) and the provider with its one retry layer (`client`).

Nothing is imported here on purpose: `tpg.pipeline` needs `tpg.llm.prompt` (the prompt version in
the request fingerprint) without loading the Anthropic SDK, which only the Claude tiers need.
"""
