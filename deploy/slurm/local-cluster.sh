#!/bin/bash
# Starts a one-node Slurm cluster on this machine (loopback, no systemd), for the tests and
# for trying the templates: munge, slurmctld and slurmd with state under $SLURM_LOCAL_DIR.
# Needs root and Debian's packages: apt-get install slurmctld slurmd slurm-client munge.
# Does nothing when the node already answers. `local-cluster.sh stop` stops the daemons.
set -euo pipefail
state=${SLURM_LOCAL_DIR:-/tmp/maskforge-slurm}
if [ "${1:-start}" = stop ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    exit 0
fi
if timeout 5 sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    exit 0
fi
host=$(hostname -s)
mkdir -p "$state/state" "$state/spool" "$state/log" /etc/slurm /run/munge /var/log/munge /var/lib/munge
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=maskforge-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=3600
ReturnToService=2
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 0700 /etc/munge
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- munged
fi
pkill -x slurmd || true
pkill -x slurmctld || true
slurmctld -c
slurmd
for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        exit 0
    fi
    sleep 0.5
done
echo "the local Slurm node did not come up; see $state/log/" >&2
sinfo >&2 || true
exit 1
