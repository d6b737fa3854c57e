{"config":{"bootExemptions":[],"bootMode":"block","ikeLogging":0,"ipsecDiagnostics":7,"ipsecExempt":3,"ipsecLogInterval":60,"strongCRLCheck":0},"format":"rampart-boot","version":2}
