"""What an operator watches: health endpoints, request ids in logs, and scrapeable counters.

Nothing here changes what the node does; a failure to log or count must never fail a request.
"""
