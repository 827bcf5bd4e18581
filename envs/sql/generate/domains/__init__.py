"""The six business domains. Each module exposes FACTS (what templates need) and build(seed, lite)."""

from agentgym.envs.sql.generate.domains import airline, banking, hospital, logistics, retail, university

DOMAINS = {m.FACTS.db: m for m in (retail, hospital, airline, university, logistics, banking)}
