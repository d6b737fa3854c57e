netsh ipsec static add filteraction name=Block action=block > nul 2>&1
