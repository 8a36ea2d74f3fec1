"""Models that answer pose requests: the baselines (:mod:`~posekit.models.baselines`), the shared pose
losses (:mod:`~posekit.models.losses`), the part composer (:mod:`posekit.models.part_composer`),
the pose decoder over frozen LLM states (:mod:`posekit.models.decoder`) and ChatPose
(:mod:`posekit.models.chatpose`), which uses the decoder as its head."""
