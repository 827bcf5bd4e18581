"""The interactive run viewer (`agentgym view RUN`): a small local web app over a run's store.

It reads only the stored format (results.sqlite: configs, episodes, trajectories, train_steps),
never env or agent code, so any run, old or new, from any machine can be opened. Pages: the
episode list (filters, errors and failures first), per-env scaling charts, one episode (grader's
verdict, budget per turn, transcript), two configs side by side on one task, and the training
curves of a run that has them. No script, no CDN.
"""

from agentgym.view.data import RunData
from agentgym.view.server import Viewer, make_server, serve

__all__ = ["RunData", "Viewer", "make_server", "serve"]
