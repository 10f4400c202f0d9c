"""Plans: the tasks queries and writes become, and the executor that runs them."""
