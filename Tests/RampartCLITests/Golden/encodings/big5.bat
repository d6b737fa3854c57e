@echo off
rem 設定 IPSec 原則：封鎖 Telnet 與 NetBIOS
netsh ipsec static add policy name="伺服器安全原則" description="封鎖不安全的服務" assign=no
netsh ipsec static add filterlist name="遠端登入"
netsh ipsec static add filter filterlist="遠端登入" srcaddr=any dstaddr=me description="終端機連線" protocol=tcp dstport=23 mirrored=yes
netsh ipsec static add filteraction name="封鎖" action=block
netsh ipsec static add rule name="封鎖遠端登入" policy="伺服器安全原則" filterlist="遠端登入" filteraction="封鎖"
netsh ipsec static set policy name="伺服器安全原則" assign=y
