"""An smc bot on asyncio: it joins every room it is invited to (auto-join) and
answers ``!ping`` with ``pong``. It stops after ``--answers N`` answers, or on Ctrl-C.

    python echo_bot.py HOME SERVER_ADDRESS [--user echo] [--answers N]
"""

from __future__ import annotations

import argparse
import asyncio

import smc
import smc.aio


async def run(home: str, address: str, user: str, answers: int | None) -> None:
    async with smc.aio.Client(home, user, auto_join=True) as bot:
        await bot.connect(address)
        print(f"{user} connected to {address}", flush=True)
        answered = 0
        async for event in bot.events():
            if isinstance(event, smc.Event) and event.kind == "joined":
                print(f"joined #{event.room} (invited by {event.user})", flush=True)
            elif isinstance(event, smc.Message) and event.text.strip() == "!ping":
                await bot.send(event.room, f"pong, {event.sender}")
                answered += 1
                print(f"answered {event.sender} in #{event.room}", flush=True)
                if answers is not None and answered >= answers:
                    return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home")
    parser.add_argument("address")
    parser.add_argument("--user", default="echo")
    parser.add_argument("--answers", type=int, default=None)
    args = parser.parse_args()
    try:
        asyncio.run(run(args.home, args.address, args.user, args.answers))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
