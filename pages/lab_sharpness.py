import streamlit as st

st.title("lab_sharpness")
st.info("This page is being written.")
