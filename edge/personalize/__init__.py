"""Who sees what: decide requests with a cool-down, a cache and a cap; offline offers."""
