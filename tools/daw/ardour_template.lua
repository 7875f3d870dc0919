-- Regenerates ardour_template.ardour (run from this folder):  ardour7-lua ardour_template.lua
-- Ardour itself writes the session: a stereo master and one stereo audio track named TEMPLATE,
-- which tools/daw/ardour.py clones once per stem (new ids, the stem's name, its fader and region).
local dir = os.getenv("TMPDIR") or "/tmp"
local s = create_session(dir .. "/anchormix-ardour-template", "anchormix", 48000)
s:new_audio_track(2, 2, nil, 1, "TEMPLATE", ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
s:save_state("", false, false, false, false, false)
close_session()
os.execute("cp " .. dir .. "/anchormix-ardour-template/anchormix.ardour ardour_template.ardour && rm -rf " .. dir .. "/anchormix-ardour-template")
