"""History: freqtrade datadirs imported into the store (and filled by the real
`freqtrade download-data`), or pages of exchange REST klines, through the CandleWriter."""
