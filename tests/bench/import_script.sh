#!/usr/bin/env bash
# The script users write today to import a VM without amifs: upload with
# `aws s3 cp`, start `aws ec2 import-image`, poll describe-import-image-tasks,
# tag the AMI. bench.py times it through the MARK lines on stderr.
#   import_script.sh AWS ENDPOINT OVA BUCKET KEY POLL_SECONDS
set -euo pipefail
AWS=$1 URL=$2 OVA=$3 BUCKET=$4 KEY=$5 POLL=$6
mark() { echo "MARK $1 $(date +%s.%N)" >&2; }
aws_() { "$AWS" --endpoint-url "$URL" "$@"; }

mark begin
aws_ s3 cp --only-show-errors "$OVA" "s3://$BUCKET/$KEY"
id=$(aws_ ec2 import-image --description "script import of ${KEY##*/}" \
    --disk-containers "Format=ova,UserBucket={S3Bucket=$BUCKET,S3Key=$KEY}" \
    --query ImportTaskId --output text)
mark started
deadline=$((SECONDS + 1800))               # bounded: 30 minutes at most
st=unknown ami=None
while [ $SECONDS -lt $deadline ]; do
    read -r st ami < <(aws_ ec2 describe-import-image-tasks \
        --import-task-ids "$id" \
        --query 'ImportImageTasks[0].[Status,ImageId]' --output text)
    case $st in completed|deleted|deleting) break ;; esac
    sleep "$POLL"
done
if [ "$st" = completed ] && [ "$ami" != None ]; then
    aws_ ec2 create-tags --resources "$ami" --tags "Key=Name,Value=${KEY##*/}"
fi
mark ended
echo "STATE $st $ami" >&2
