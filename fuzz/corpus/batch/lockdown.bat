@echo off
REM lock it down
set SERVER=192.0.2.10
netsh ipsec static add policy name=Lock assign=no
netsh -c "ipsec static" add filterlist name=L
netsh ipsec static add filter filterlist=L srcaddr=%SERVER% dstaddr=me protocol=tcp dstport=3389 ^
  mirrored=yes
if errorlevel 1 goto end
:end
