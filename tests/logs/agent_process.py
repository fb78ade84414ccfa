"""An agent as a worker runs it: it registers with the name and credential Ottoscaler put
in its environment, pushes one line and ends its stream; it exits 0 once that line is
ACKed. AGENT_GATEWAY (from the pool's build_config) says where the gateway listens."""

from __future__ import annotations

import asyncio
import os
import sys

from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc


async def main() -> int:
    name, task = os.environ["OTTO_WORKER_NAME"], os.environ["OTTO_TASK_ID"]
    async with aio.insecure_channel(os.environ["AGENT_GATEWAY"]) as channel:
        agents = pb_grpc.LogStreamingServiceStub(channel)
        registered = await agents.RegisterWorker(
            pb.WorkerRegistration(
                worker_id=name, task_id=task, credential=os.environ["OTTO_AGENT_CREDENTIAL"]
            )
        )
        line = pb.LogEntry(worker_id=name, session_id=registered.session_id, message="hello")
        answers = [answer.status async for answer in agents.StreamLogs(iter([line]))]
    print(pb.RegistrationResponse.Status.Name(registered.status), answers)
    return 0 if answers == [pb.LogResponse.ACK] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
