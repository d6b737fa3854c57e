@echo off
rem IPSec ポリシーの設定：Telnet を遮断する
netsh ipsec static add policy name="サーバー保護ポリシー" description="危険なサービスを遮断" assign=no
netsh ipsec static add filterlist name="テルネット"
netsh ipsec static add filter filterlist="テルネット" srcaddr=any dstaddr=me description="リモート接続" protocol=tcp dstport=23 mirrored=yes
netsh ipsec static add filteraction name="遮断" action=block
netsh ipsec static add rule name="テルネット遮断" policy="サーバー保護ポリシー" filterlist="テルネット" filteraction="遮断"
netsh ipsec static set policy name="サーバー保護ポリシー" assign=y
