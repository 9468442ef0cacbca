"""The user's freqtrade bots, read through their REST APIs for the chart."""
