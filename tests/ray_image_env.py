"""A test plugin for tests/test_ray_images.py (imported on every Ray node through
RayExecutor(imports=...)): a docker-runtime env that starts no container but declares the one
image its episodes need (`required_images()`), and whose reset reports whether that image was
already on the node's Docker engine when the episode began. Submitting scores 1 exactly then."""

from __future__ import annotations

from agentgym.actions import NoArgs, Tool, ToolResult
from agentgym.env import AgentEnv


class ImageProbeEnv(AgentEnv):
    env_id = "image-probe"
    runtime = "docker"

    def __init__(self, image: str, **kw):
        self.image, self.present = image, False
        kw.setdefault("max_turns", 2)
        super().__init__(show_budget=False, **kw)

    def required_images(self) -> list[str]:
        return [self.image]

    def task_ids(self) -> list[str]:
        return ["a", "b"]

    def _start_episode(self, task_id: str) -> str:
        from agentgym.images.core import image_exists

        self.present = image_exists(self.image)
        return f"{self.image} present at reset: {self.present}"

    def _tools(self) -> list[Tool]:
        return [Tool(name="submit", description="end", params=NoArgs,
                     handler=lambda _a: ToolResult(output="ok", reward=1.0 if self.present else 0.0, terminated=True))]

    def passed(self, reward, info):
        return reward >= 1.0

