"""Pure routing: priority, matching and Erlang C. No I/O, no clock reads: `now` is an argument."""
