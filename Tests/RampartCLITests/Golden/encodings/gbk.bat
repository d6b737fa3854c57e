@echo off
rem 配置 IPSec 策略：只允许 Web 访问，阻止其他所有入站流量
rem 作者：网络管理员
netsh ipsec static add policy name="Web服务器策略" description="仅允许HTTP和HTTPS" assign=no
netsh ipsec static add filterlist name="所有流量" description="全部入站"
netsh ipsec static add filterlist name="网页流量"
netsh ipsec static add filter filterlist="所有流量" srcaddr=any dstaddr=me description="所有入站" protocol=any mirrored=yes
netsh ipsec static add filter filterlist="网页流量" srcaddr=any dstaddr=me description="超文本传输协议" protocol=tcp dstport=80 mirrored=yes
netsh ipsec static add filteraction name="阻止" action=block
netsh ipsec static add filteraction name="允许" action=permit
netsh ipsec static add rule name="阻止所有" policy="Web服务器策略" filterlist="所有流量" filteraction="阻止"
netsh ipsec static add rule name="允许网页" policy="Web服务器策略" filterlist="网页流量" filteraction="允许"
netsh ipsec static set policy name="Web服务器策略" assign=y
