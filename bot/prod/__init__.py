"""Production: several Rasa instances on PostgreSQL (trackers, knowledge base) and Redis (locks)
behind our own balancer. See docs/production.md.

    config.py    settings and checks from the environment (secrets required, models/ only)
    stores.py    tracker and lock stores that ride out a database/Redis restart instead of
                 silently forgetting the conversation
    instance.py  one Rasa instance as production runs it (`python -m bot.prod.instance`)
    balancer.py  the reverse proxy in front of the instances (`python -m bot.prod.balancer`)
    stack.py     the whole stack as child processes (local run, tests, benchmarks)
    __main__.py  `make run-prod-local`
"""
