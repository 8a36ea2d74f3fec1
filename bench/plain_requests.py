"""Plain requests against a checkpoint: which CHECKS pass, with the joints' key numbers."""
import sys
sys.path.insert(0, "/work/main/tests")
from test_plain_requests import CHECKS, _knee, _lean, J
from posekit.chat import ChatSession
session = ChatSession(checkpoint=sys.argv[1] if len(sys.argv) > 1 else None)
ok = 0
for text, check in CHECKS.items():
    session.reset()
    reply = session.send(text)
    if not reply.poses:
        print("NO POSE", text, reply.text); continue
    j = reply.poses[0].joints
    passed = bool(check(j)); ok += passed
    print(f"{'PASS' if passed else 'FAIL'} {text:<55} knees {_knee(j,'left'):.0f}/{_knee(j,'right'):.0f} lean {_lean(j):.0f} "
          f"hands-apart {(j[J['left_hand']]-j[J['right_hand']]).norm():.2f} lhand-y-head {float(j[J['left_hand'],1]-j[J['head'],1]):+.2f}")
print(f"{ok}/{len(CHECKS)}")
