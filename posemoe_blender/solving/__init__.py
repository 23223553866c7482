"""From 3D joints to the generated rig's animation (no bpy here).

* :mod:`.skeleton`: the rig's bones and points, and the :class:`~.skeleton.Animation` handed to Blender;
* :mod:`.root`: the camera axes, the root estimate and the pelvis' path (:func:`~.root.root_trajectory`);
* :mod:`.rest`: constant bone lengths, the rest pose and the rig points that follow the joints;
* :mod:`.body`: placing the joints in armature space and solving the bone rotations (:func:`~.body.solve_animation`);
* :mod:`.kinematics`: posed bone ends, joints and rig points of an animation (forward kinematics);
* :mod:`.contacts`: the ground under the feet and the frames each foot is planted;
* :mod:`.footlock`: pinning the planted feet (two-bone leg IK) and the body on them;
* :mod:`.feet`: the foot and toe rotations from BlazePose's heels and toe tips;
* :mod:`.fingers`: finger angles and palm frames from the hand landmarks;
* :mod:`.hand_bones`: the hand bones turned with the palms, the finger bases' rotations.
"""
